"""Benchmarks behind `marionette bench ...`: each prints JSON; tests never assert their timings."""
