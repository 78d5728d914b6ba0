"""Automatic checks for the labs: one module per lab, one function per exercise."""
