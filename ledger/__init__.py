"""The Polycule Agreement Ledger: agreements, consent and repair as immutable events."""
