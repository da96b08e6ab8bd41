// The token request of OpenVidu's tutorial clients (application-client/openvidu-js
// app.js): POST {server}token with {roomName, participantName}; the token on success,
// errorMessage on failure. Usage: node openvidu_client.js SERVER_URL ROOM NAME
'use strict'

const [serverUrl, roomName, participantName] = process.argv.slice(2)

async function getToken () {
  const response = await fetch(serverUrl + 'token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ roomName, participantName }),
  })
  if (!response.ok) {
    const error = await response.json()
    return { ok: false, status: response.status, errorMessage: error.errorMessage }
  }
  const data = await response.json()
  return { ok: true, status: response.status, token: data.token }
}

getToken().then(
  answer => process.stdout.write(JSON.stringify(answer)),
  error => { process.stderr.write(String(error)); process.exit(1) },
)
