"""Compliance: screening of parties and paying addresses, decisions with their reasons, cases."""
