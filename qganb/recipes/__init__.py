"""Recipes: one YAML file per new QGA command, and what turns it into code for a QEMU tree (QAPI
schema entry, C block, the edit plan), previews it, and validates it by building and calling it."""
