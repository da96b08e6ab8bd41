"""LiveKit (and OpenVidu): access tokens, the standard token endpoint, webhooks."""
