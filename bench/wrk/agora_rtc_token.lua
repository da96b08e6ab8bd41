-- POST /v1/agora/rtc-token with a 40 s token, as a renewing mobile client asks.
wrk.method = "POST"
wrk.body = '{"channel": "demo", "uid": 1234, "role": "publisher", "expire": 40}'
wrk.headers["Content-Type"] = "application/json"
