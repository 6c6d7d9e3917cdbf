"""The commands: each one function that orchestrates the stages below it (image, serve,
check, ship, provenance) and returns a typed result for the CLI to render.
"""
