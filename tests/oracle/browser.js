// Drives headless Chromium (Debian's) with playwright-core for the browser tests.
//   node browser.js playground URL   -> mints a token for each platform in the playground
//   node browser.js page URL         -> opens a page and returns its window.__result
'use strict'

const { chromium } = require('playwright-core')

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]

async function playground (page, url, screenshot) {
  await page.goto(url)
  const results = {}
  const platforms = ['agora', 'agora-rtm', 'agora-convoai', 'agora-stt', 'agora-apaas', 'agora-fpa',
    'livekit', 'videosdk']
  for (const platform of platforms) {
    await page.selectOption('#platform', platform)
    await page.fill('#room', 'demo')
    await page.fill('#user', '42')
    await page.click('#mint')
    await page.waitForFunction(() => document.getElementById('decoded').textContent.startsWith('{'))
    results[platform] = JSON.parse(await page.textContent('#decoded'))
    await page.evaluate(() => { document.getElementById('decoded').textContent = '' })
  }
  await page.selectOption('#platform', 'agora')
  await page.click('#renew')
  await page.waitForFunction(() => /\d+ s/.test(document.getElementById('countdown').textContent))
  results.countdown = await page.textContent('#countdown')
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true })
  return results
}

async function result (page, url) {
  await page.goto(url)
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 20000 })
  return page.evaluate(() => window.__result)
}

async function main () {
  const [mode, url, screenshot] = process.argv.slice(2)
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ARGS })
  try {
    const page = await browser.newPage()
    const output = mode === 'playground' ? await playground(page, url, screenshot) : await result(page, url)
    process.stdout.write(JSON.stringify(output))
  } finally {
    await browser.close()
  }
}

main().catch(error => { process.stderr.write(String(error && error.stack || error)); process.exit(1) })
