"""rtc-token-service: short-lived access tokens for Agora, LiveKit and VideoSDK apps."""

__version__ = "0.1.0"
