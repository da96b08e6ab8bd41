-- POST /token as OpenVidu's tutorial clients send it.
wrk.method = "POST"
wrk.body = '{"roomName": "room1", "participantName": "alice"}'
wrk.headers["Content-Type"] = "application/json"
