// A client of Agora's Go token-server sample, as Agora's docs write it: the web client
// posts {uid, channelName, role} as JSON (axios), the Android client sends ChannelName
// (OkHttp). It renews the way the docs' clients do, by fetching again, and hands every
// token to the official parser. Usage: node sample_client.js URL CERTIFICATE
'use strict'

const { AccessToken2 } = require('agora-token/src/AccessToken2')

const [url, certificate] = process.argv.slice(2)

async function fetchToken (body) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/plain, */*' },
    body: JSON.stringify(body),
  })
  const data = await response.json()
  const parsed = new AccessToken2()
  const ok = parsed.from_string(data.token)
  const rtc = ok ? parsed.services[0] : null
  return {
    status: response.status,
    code: data.code,
    signature_valid: ok && parsed.verifySignature(certificate),
    uid: rtc ? String(rtc.__uid) : null,
    channel: rtc ? String(rtc.__channel_name) : null,
    privileges: rtc ? Object.keys(rtc.__privileges).map(Number) : null,
    cors: response.headers.get('access-control-allow-origin'),
  }
}

async function main () {
  const web = await fetchToken({ uid: 1234, channelName: 'demo', role: 1 })
  const android = await fetchToken({ uid: 5678, ChannelName: 'demo', role: 2 })
  const renewed = await fetchToken({ uid: 1234, channelName: 'demo', role: 1 })
  process.stdout.write(JSON.stringify({ web, android, renewed }))
}

main().catch(error => {
  process.stderr.write(String(error))
  process.exit(1)
})
