"""The ``agencybus`` command line: one module per verb group."""
