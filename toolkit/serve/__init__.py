"""The engine's OpenAI-compatible HTTP server (`python -m toolkit.serve`): handlers, the
request bridge to the engine thread, streamed answers."""
