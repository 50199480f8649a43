"""Offline tools: corpus building, evaluations and benchmarks. They may import core and plugin; the
engine (core) imports neither, so nothing here is loaded by a live avatar."""
