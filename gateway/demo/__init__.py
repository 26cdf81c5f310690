"""The demo: start every real part on loopback and send one remittance through the public API."""
