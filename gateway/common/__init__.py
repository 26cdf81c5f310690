"""Shared primitives (money, errors, base model) that every app may import.

This package depends on nothing else in the project, so ``ramps`` and ``compliance`` can use it
without depending on the gateway's domain.
"""
