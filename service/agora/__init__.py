"""Agora: AccessToken2 (007) and AccessToken (006) builders, parsers and HTTP routes."""
