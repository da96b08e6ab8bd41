// A client of VideoSDK's example token servers (videosdk-rtc-api-server-examples), as the
// sample apps call them: GET /get-token for a token, POST /create-meeting/ with {token}
// for a room, POST /validate-meeting/:id with {token} to check it.
// Usage: node videosdk_example_client.js SERVER_URL
'use strict'

const [server] = process.argv.slice(2)

async function call (method, path, body) {
  const response = await fetch(server + path, {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  })
  return { status: response.status, data: await response.json() }
}

async function main () {
  const { data: { token } } = await call('GET', '/get-token')
  const created = await call('POST', '/create-meeting/', { token, region: 'sg001' })
  const meetingId = created.data.roomId
  const valid = await call('POST', `/validate-meeting/${meetingId}`, { token })
  const unknown = await call('POST', '/validate-meeting/zzzz-zzzz-zzzz', { token })
  return {
    token,
    createdStatus: created.status,
    meetingId,
    validStatus: valid.status,
    validRoomId: valid.data.roomId,
    unknownStatus: unknown.status,
  }
}

main().then(
  answer => process.stdout.write(JSON.stringify(answer)),
  error => { process.stderr.write(String(error)); process.exit(1) },
)
