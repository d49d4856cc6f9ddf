"""Disco's client library names (``disco.*``), served by discoworker.

This package is discoworker under the original's module names, for jobs written for Disco
0.5.4: ``from disco.core import Job, result_iterator`` runs them on discoworker's embedded
master or a Disco cluster. It lies on ``sys.path`` only when asked for (the
``discoworker-disco`` distribution, ``python -m discoworker.disco_compat``, or this directory
on ``PYTHONPATH``), and after site-packages, so an installed original library wins.
"""

#: The Disco release whose client interface this package serves.
__version__ = "0.5.4"
