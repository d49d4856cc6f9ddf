"""The original's ``disco.compat`` text helpers, for jobs written for it.

``bytes_to_str(line)`` in a map keeps working now that lines are ``str``: str passes through.
"""

from discoworker.app.readers import bytes_to_str, str_to_bytes

__all__ = ["bytes_to_str", "str_to_bytes"]
