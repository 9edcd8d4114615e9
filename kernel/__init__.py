"""The StoreMesh shared kernel: the plumbing every service stands on."""
