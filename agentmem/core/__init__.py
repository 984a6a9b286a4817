"""The bottom floor: database, migration runner, settings, errors, tokens. Imports nothing of ours."""
