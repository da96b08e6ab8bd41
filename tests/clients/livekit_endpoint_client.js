// What LiveKit's JS client SDK does with TokenSource.endpoint (client-sdk-js
// src/room/token-source/TokenSource.ts): POST a snake_case TokenSourceRequest as JSON,
// fail on any non-2xx, read server_url and participant_token (as Swift does: snake_case
// only). Usage: node livekit_endpoint_client.js ENDPOINT_URL
'use strict'

const [endpoint] = process.argv.slice(2)

async function fetchConnectionDetails () {
  const request = {
    room_name: 'room1',
    participant_name: 'Alice',
    participant_identity: 'alice',
    participant_metadata: '{}',
    participant_attributes: { k: 'v' },
    room_config: { agents: [{ agent_name: 'my-agent', metadata: 'm' }] },
  }
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(request),
  })
  if (!response.ok) {
    throw new Error(`Error generating token from endpoint ${endpoint}: received ${response.status} / ${await response.text()}`)
  }
  const body = await response.json()
  return { status: response.status, serverUrl: body.server_url, participantToken: body.participant_token }
}

fetchConnectionDetails().then(
  answer => process.stdout.write(JSON.stringify(answer)),
  error => { process.stderr.write(String(error)); process.exit(1) },
)
