// The playground: mint tokens from this service, decode them in the browser, and run the
// renewal loop a mobile client runs (renew when 30 s are left, as tokenPrivilegeWillExpire).
'use strict'

const $ = id => document.getElementById(id)
let timer = null
let renewAt = null
let renewals = 0

function headers () {
  const h = { 'Content-Type': 'application/json' }
  if ($('apiKey').value) h['X-API-Key'] = $('apiKey').value
  if ($('bearer').value) h.Authorization = `Bearer ${$('bearer').value}`
  return h
}

function request () {
  const room = $('room').value
  const user = $('user').value
  const expire = Number($('expire').value)
  const who = /^\d+$/.test(user) ? { uid: Number(user) } : { user_account: user }
  switch ($('platform').value) {
    case 'agora':
      return ['/v1/agora/rtc-token', { channel: room, role: 'publisher', expire, ...who }]
    case 'agora-rtm':
      return ['/v1/agora/rtm-token', { user_id: user, expire }]
    case 'agora-convoai':
      return ['/v1/agora/convoai-token', { channel: room, role: 'publisher', expire, ...who }]
    case 'agora-stt':
      return ['/v1/agora/stt-token', { channel: room, role: 'subscriber', expire, ...who }]
    case 'agora-apaas':
      return ['/v1/agora/apaas-token', { kind: 'room_user', room_uuid: room, user_uuid: user, expire }]
    case 'agora-fpa':
      return ['/v1/agora/fpa-token', {}]
    case 'livekit':
      return ['/v1/livekit/token', { room, identity: user, ttl: Math.max(expire, 61) }]
    default:
      return ['/v1/videosdk/token', { roomId: room, participantId: user, roles: ['rtc'], ttl: Math.max(expire, 60) }]
  }
}

function base64Bytes (text) {
  const binary = atob(text)
  return Uint8Array.from(binary, c => c.charCodeAt(0))
}

async function inflate (bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'))
  return new Uint8Array(await new Response(stream).arrayBuffer())
}

// AccessToken2 (007): little-endian integers, u16-length-prefixed strings.
const RTC_PRIVILEGES = { 1: 'join_channel', 2: 'publish_audio_stream', 3: 'publish_video_stream', 4: 'publish_data_stream' }
const SERVICES = { 1: 'rtc', 2: 'rtm', 4: 'fpa', 5: 'chat', 7: 'apaas', 8: 'rtm2', 9: 'convoai', 10: 'stt' }
const RTM2_RESOURCES = ['message_channels', 'stream_channels', 'group_channels', 'server_groups', 'users']
async function decodeAgora (token) {
  const data = await inflate(base64Bytes(token.slice(3)))
  const view = new DataView(data.buffer)
  let at = 0
  const u16 = () => { const v = view.getUint16(at, true); at += 2; return v }
  const u32 = () => { const v = view.getUint32(at, true); at += 4; return v }
  const str = () => { const n = u16(); const s = new TextDecoder().decode(data.slice(at, at + n)); at += n; return s }
  str() // signature
  const decoded = { version: '007', app_id: str(), issued_at: u32(), expire_seconds: u32(), salt: u32(), services: [] }
  decoded.expires_at = decoded.issued_at + decoded.expire_seconds
  const count = u16()
  for (let i = 0; i < count; i++) {
    const type = u16()
    const privileges = {}
    const n = u16()
    for (let j = 0; j < n; j++) {
      const id = u16()
      const seconds = u32()
      privileges[type === 1 ? RTC_PRIVILEGES[id] : id] = { seconds, expires_at: decoded.issued_at + seconds }
    }
    const service = { name: SERVICES[type] || type, privileges }
    if (type === 1) { service.channel = str(); service.uid = str() } else if (type === 2 || type === 5) { service.user_id = str() } else if (type === 7) {
      service.room_uuid = str(); service.user_uuid = str(); service.role = view.getInt16(at, true); at += 2
    } else if (type === 8) {
      service.user_id = str()
      service.permissions = {}
      for (let r = u16(); r > 0; r--) {
        const resource = RTM2_RESOURCES[u16()]
        service.permissions[resource] = {}
        for (let k = u16(); k > 0; k--) {
          const kind = u16() === 0 ? 'read' : 'write'
          service.permissions[resource][kind] = []
          for (let n = u16(); n > 0; n--) service.permissions[resource][kind].push(str())
        }
      }
    } else if (!SERVICES[type]) break
    decoded.services.push(service)
  }
  return decoded
}

function decodeJwt (token) {
  const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
  return JSON.parse(new TextDecoder().decode(base64Bytes(part + '='.repeat((4 - part.length % 4) % 4))))
}

// With several apps (APPS_FILE), the app is named by the /apps/<name>/ prefix.
function prefixed (path) {
  const app = $('app').value.trim()
  return app ? `/apps/${encodeURIComponent(app)}${path}` : path
}

async function mint () {
  const [path, body] = request()
  const response = await fetch(prefixed(path), { method: 'POST', headers: headers(), body: JSON.stringify(body) })
  const answer = await response.json()
  $('answer').textContent = JSON.stringify(answer, null, 2)
  if (!response.ok) {
    $('status').textContent = `${response.status}: ${answer.message || JSON.stringify(answer)}`
    $('status').className = 'error'
    return null
  }
  $('status').textContent = 'token minted'
  $('status').className = ''
  const token = answer.token
  const decoded = token.startsWith('007') ? await decodeAgora(token) : decodeJwt(token)
  $('decoded').textContent = JSON.stringify(decoded, null, 2)
  const expiresAt = decoded.expires_at || decoded.exp
  return expiresAt
}

async function renewLoop () {
  const expiresAt = await mint()
  if (expiresAt == null) return
  renewAt = expiresAt - 30 // the SDKs warn 30 s before expiry
}

function tick () {
  if (renewAt == null) return
  const left = Math.max(0, Math.round(renewAt - Date.now() / 1000))
  $('countdown').textContent = `${left} s`
  if (left === 0) {
    renewAt = null
    renewals += 1
    $('renewals').textContent = renewals
    renewLoop()
  }
}

$('mint').addEventListener('click', () => { mint() })
$('renew').addEventListener('click', () => {
  renewals = 0
  $('renewals').textContent = '0'
  clearInterval(timer)
  timer = setInterval(tick, 250)
  renewLoop()
})
$('stop').addEventListener('click', () => { clearInterval(timer); renewAt = null; $('countdown').textContent = '–' })
