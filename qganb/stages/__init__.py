"""The pipeline's stages, in order: fetch, prep, edit, diff, spec, build, install, verify. Each is
one module with one entry point, `run(run_dir, ...) -> <Stage>Record`, and talks to the others only
through the typed records in the run directory's manifest (see `table` and `records`)."""
