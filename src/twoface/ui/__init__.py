"""The local web UI (`twoface ui`): upload sources and a target, pick faces, swap, download."""
