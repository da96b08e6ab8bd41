"""Who may get tokens: caller authentication, issuance policy, rate limits."""
