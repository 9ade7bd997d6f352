"""The demo: runs every role of the bus on one laptop (``agencybus demo``).

A role of its own: it imports only ``schemas`` and ``agencybus`` and starts the other roles as
child processes through the ``agencybus`` CLI, never by importing them.
"""
