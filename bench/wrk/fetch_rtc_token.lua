-- POST /fetch_rtc_token as the Go sample's web client sends it.
wrk.method = "POST"
wrk.body = '{"uid": 1234, "channelName": "demo", "role": 1}'
wrk.headers["Content-Type"] = "application/json"
