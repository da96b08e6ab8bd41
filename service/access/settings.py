"""Who may get tokens (caller authentication), what they may ask for (the policy), and
how often (rate limits): read from the environment once."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.access.callers import JwtRules
from service.access.policy import ALLOW_ALL, Policy, PolicyError, parse_policy
from service.access.ratelimit import Limit
from service.env import ConfigError, Env

# A client renewing a 40 s token asks once every 10-40 s. Per signed-in user: stops one that
# asks hundreds of times a second. Per address (anonymous callers, API-key callers, and
# failed authentications, each in its own bucket): one address may be a whole office or a
# carrier NAT, so it serves 1,000 requests at once (500 clients starting a meeting with two
# requests each) and 200 a second (8,000 clients renewing every 40 s).
DEFAULT_CALLER_LIMIT = Limit(rate=5.0, burst=30)
DEFAULT_ADDRESS_LIMIT = Limit(rate=200.0, burst=1000)
# Per API key: off unless RATE_LIMIT_API_KEY_RATE is set; then bursts of this many.
DEFAULT_API_KEY_BURST = 1000
MIN_API_KEY_LENGTH = 16
MIN_JWT_SECRET_LENGTH = 32


@dataclass(frozen=True)
class AccessSettings:
    mode: str = "none"  # "none", "api-key", "jwt"
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    jwt: JwtRules | None = None
    policy: Policy = ALLOW_ALL
    caller_limit: Limit | None = DEFAULT_CALLER_LIMIT  # per signed-in user (jwt)
    address_limit: Limit | None = DEFAULT_ADDRESS_LIMIT  # per client address
    api_key_limit: Limit | None = None  # per API key: off unless set


def _limit(env: Env, name: str, rate: float | None, burst: int) -> Limit | None:
    """<NAME>_RATE requests per second with bursts of <NAME>_BURST; a rate of 0 is off."""
    chosen = env.number(f"{name}_RATE", rate if rate is not None else 0.0, minimum=0.0, maximum=1e6)
    if chosen == 0:
        return None
    return Limit(
        rate=chosen, burst=env.integer(f"{name}_BURST", burst, minimum=1, maximum=1_000_000)
    )


def load_jwt_rules(env: Env) -> JwtRules:
    """The login-token rules (AUTH_JWT_*): the service's, or an app's [auth] table."""
    secret, jwks_url = env.text("AUTH_JWT_SECRET"), env.text("AUTH_JWKS_URL")
    if (secret is None) == (jwks_url is None):
        raise ConfigError(
            "AUTH_JWT_SECRET: set it (HS256) or AUTH_JWKS_URL (RS256/ES256), not both"
        )
    if secret is not None and len(secret) < MIN_JWT_SECRET_LENGTH:
        raise ConfigError(f"AUTH_JWT_SECRET: must be at least {MIN_JWT_SECRET_LENGTH} characters")
    if jwks_url is not None and not jwks_url.startswith(("https://", "http://")):
        raise ConfigError(f"AUTH_JWKS_URL: must be an http(s):// URL, got {jwks_url!r}")
    issuer, audience = env.text("AUTH_JWT_ISSUER"), env.text("AUTH_JWT_AUDIENCE")
    if issuer is None:
        raise ConfigError(
            "AUTH_JWT_ISSUER: must be set with AUTH_MODE=jwt (tokens are checked against it)"
        )
    if audience is None:
        raise ConfigError(
            "AUTH_JWT_AUDIENCE: must be set with AUTH_MODE=jwt (tokens are checked against it)"
        )
    return JwtRules(
        issuer=issuer,
        audience=audience,
        identity_claim=env.text("AUTH_JWT_IDENTITY_CLAIM") or "sub",
        app_claim=env.text("AUTH_JWT_APP_CLAIM"),
        secret=secret,
        jwks_url=jwks_url,
    )


def _policy(env: Env) -> Policy:
    path = env.text("POLICY_FILE")
    if path is None:
        return ALLOW_ALL
    text = env.file_text("POLICY_FILE", path)
    try:
        return parse_policy(text)
    except PolicyError as exc:
        raise ConfigError(f"POLICY_FILE: {path}: {exc}") from None


def load_access_settings(env: Env, *, apps_file: bool = False) -> AccessSettings:
    """`apps_file`: the apps list their own API keys, so API_KEYS may be empty."""
    mode = env.choice("AUTH_MODE", AccessSettings.mode, ("none", "api-key", "jwt"))
    api_keys: tuple[str, ...] = ()
    if mode == "api-key":
        api_keys = tuple(k.strip() for k in (env.text("API_KEYS") or "").split(",") if k.strip())
        if not api_keys and not apps_file:
            raise ConfigError("API_KEYS: must list at least one key with AUTH_MODE=api-key")
        if any(len(key) < MIN_API_KEY_LENGTH for key in api_keys):
            raise ConfigError(
                f"API_KEYS: every key must be at least {MIN_API_KEY_LENGTH} characters"
            )
    return AccessSettings(
        mode=mode,
        api_keys=api_keys,
        jwt=load_jwt_rules(env) if mode == "jwt" else None,
        policy=_policy(env),
        caller_limit=_limit(
            env, "RATE_LIMIT_CALLER", DEFAULT_CALLER_LIMIT.rate, DEFAULT_CALLER_LIMIT.burst
        ),
        address_limit=_limit(
            env, "RATE_LIMIT_ADDRESS", DEFAULT_ADDRESS_LIMIT.rate, DEFAULT_ADDRESS_LIMIT.burst
        ),
        api_key_limit=_limit(env, "RATE_LIMIT_API_KEY", None, DEFAULT_API_KEY_BURST),
    )
