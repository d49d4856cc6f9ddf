"""Adapters implementing the ports of ``discoworker.app``."""
