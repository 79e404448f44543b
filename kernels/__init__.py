"""Triton kernels, each beside its PyTorch reference (`<op>/kernel.py`, `<op>/reference.py`,
`<op>/__init__.py` dispatching between them). The first ones (paged decode attention,
prefix-extend attention, KV gather/scatter) arrive with the engine in issue [2/3]."""
