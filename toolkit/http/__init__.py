"""The HTTP side, which needs no torch (`pip install "llmserve-toolkit[http]"`): the
OpenAI-compatible protocol, the load client, the router proxy in front of any servers (the
toolkit's, vLLM's, SGLang's), the external-server launchers."""
