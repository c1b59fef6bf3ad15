"""The pipeline's stages, in order: fetch, prep, edit, diff, spec, build, install, verify; or, for a
fleet, the rollout (qganb.fleet.rollout) instead of install and verify. Each is one module with one
entry point, `run(run_dir, ...) -> <Stage>Record`, and talks to the others only through the typed
records in the run directory's manifest.

Beside the eight stage modules: `table` (the stage table), `records` (their record types),
`run_dir` (the run directory and its manifest), `pipeline` (the packaging stages in one call) and
`guest_choice` (which guest install and verify talk to: a named one, or the testbed)."""
