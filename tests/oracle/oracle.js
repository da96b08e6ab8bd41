// Agora's official npm package `agora-token` as an independent judge for our tests.
// Reads a JSON array of requests on stdin and writes a JSON array of answers on stdout.
//   {"op": "build", "builder": "...", "issue_ts": N, "salt": N, ...builder arguments}
//       -> {"token": "007..."}, built by the official builder with that issue time and salt
//   {"op": "parse", "token": "007...", "certificate": "..."}
//       -> {"parsed": bool, "signature_valid": bool, "app_id", "issue_ts", "expire", "salt",
//           "services": [{"type", "privileges", ...fields}]}
'use strict'

const {
  RtcTokenBuilder, RtmTokenBuilder, ChatTokenBuilder, ConvoAITokenBuilder, SttTokenBuilder,
  ApaasTokenBuilder, FpaTokenBuilder, Rtm2Permissions
} = require('agora-token')
const { AccessToken2 } = require('agora-token/src/AccessToken2')

// The official builders take no issue time or salt; pin them the way Agora's own tests
// do, by setting the fields on the AccessToken2 object just before it is built.
let pinned = null
const originalBuild = AccessToken2.prototype.build
AccessToken2.prototype.build = function () {
  if (pinned) {
    this.issueTs = pinned.issue_ts
    this.salt = pinned.salt
  }
  return originalBuild.call(this)
}

const builders = {
  rtc_uid: r => RtcTokenBuilder.buildTokenWithUid(
    r.app_id, r.certificate, r.channel, r.uid, r.role, r.token_expire, r.privilege_expire),
  rtc_account: r => RtcTokenBuilder.buildTokenWithUserAccount(
    r.app_id, r.certificate, r.channel, r.account, r.role, r.token_expire, r.privilege_expire),
  rtc_with_rtm: r => RtcTokenBuilder.buildTokenWithRtm(
    r.app_id, r.certificate, r.channel, r.account, r.role, r.token_expire, r.privilege_expire),
  rtc_uid_and_privilege: r => RtcTokenBuilder.buildTokenWithUidAndPrivilege(
    r.app_id, r.certificate, r.channel, r.uid, r.token_expire,
    r.privileges[1], r.privileges[2], r.privileges[3], r.privileges[4]),
  // RTC for an account plus RTM login for another user, each privilege with its own expiry.
  rtc_with_rtm2: r => RtcTokenBuilder.buildTokenWithRtm2(...withRtm2(r)),
  convoai: r => ConvoAITokenBuilder.buildToken(...withRtm2(r)),
  stt: r => SttTokenBuilder.buildToken(...withRtm2(r)),
  rtm: r => RtmTokenBuilder.buildToken(r.app_id, r.certificate, r.user_id, r.expire),
  // permissions: [[resource type, permission type, [names...]], ...]
  rtm_permissions: r => {
    const permissions = new Rtm2Permissions()
    for (const [resource, permission, names] of r.permissions) permissions.add(resource, permission, names)
    return RtmTokenBuilder.buildTokenWithPermissions(
      r.app_id, r.certificate, r.user_id, permissions, r.expire)
  },
  apaas_room_user: r => ApaasTokenBuilder.buildRoomUserToken(
    r.app_id, r.certificate, r.room_uuid, r.user_uuid, r.role, r.expire),
  apaas_user: r => ApaasTokenBuilder.buildUserToken(r.app_id, r.certificate, r.user_uuid, r.expire),
  apaas_app: r => ApaasTokenBuilder.buildAppToken(r.app_id, r.certificate, r.expire),
  fpa: r => FpaTokenBuilder.buildToken(r.app_id, r.certificate),
  chat_user: r => ChatTokenBuilder.buildUserToken(r.app_id, r.certificate, r.user_id, r.expire),
  chat_app: r => ChatTokenBuilder.buildAppToken(r.app_id, r.certificate, r.expire),
}

function withRtm2 (r) {
  return [r.app_id, r.certificate, r.channel, r.account, r.role, r.token_expire,
    r.privileges[1], r.privileges[2], r.privileges[3], r.privileges[4],
    r.rtm_user_id, r.rtm_expire]
}

function build (request) {
  pinned = request
  try {
    return { token: builders[request.builder](request) }
  } finally {
    pinned = null
  }
}

function describeService (service) {
  const described = { type: service.service_type() }
  for (const [key, value] of Object.entries(service)) {
    // Private fields are named __field; keep them under their plain names.
    const name = key.replace(/^__/, '')
    if (name === 'type') continue
    if (name === 'privileges') {
      described.privileges = Object.fromEntries(
        Object.entries(value).map(([id, seconds]) => [id, Number(seconds)]))
    } else if (typeof value !== 'function') {
      described[name] = Buffer.isBuffer(value) ? value.toString('utf8') : value
    }
  }
  return described
}

function parse (request) {
  const token = new AccessToken2()
  const parsed = token.from_string(request.token)
  if (!parsed) return { parsed: false, signature_valid: false }
  return {
    parsed: true,
    signature_valid: token.verifySignature(request.certificate),
    app_id: String(token.appId),
    issue_ts: token.issueTs,
    expire: token.expire,
    salt: token.salt,
    services: token.services.map(describeService),
  }
}

let input = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', chunk => { input += chunk })
process.stdin.on('end', () => {
  const answers = JSON.parse(input).map(request => {
    try {
      return request.op === 'build' ? build(request) : parse(request)
    } catch (error) {
      return { error: String(error) }
    }
  })
  process.stdout.write(JSON.stringify(answers))
})
