// One automerge-repo peer of the side-by-side benchmark, driven by
// bench/sidebyside (Go) through its arguments, standard input and
// standard output: one JSON object a line each way. Storage is
// NodeFSStorageAdapter in DIR; the network is the websocket adapter on
// 127.0.0.1 only.
//
//   node peer.mjs seed DIR CHECKINS   one document per UTC month of daily check-ins
//   node peer.mjs create DIR          one empty shared document of items
//   node peer.mjs offline DIR URL N   N items added to URL, one change each, no network
//   node peer.mjs serve DIR [CMD]     listen on 127.0.0.1 (port printed), then run commands
//   node peer.mjs client DIR PORT [CMD]  connect to 127.0.0.1:PORT, then run commands
//
// Commands (CMD, then one a line on standard input):
//   {"op":"fetch","urls":[...]}    find every document, store them, report
//   {"op":"wait","url":U,"count":N}  until U holds N items (then stored), report
//   {"op":"open","url":U}          find U; later edits and watches are on it
//   {"op":"watch"}                 report every new "live-I" item with the time seen
//   {"op":"edit","i":I}            add item "live-I", report the time of the change
//
// Bytes are counted at the websocket: the payload of every websocket
// message this process sends or receives (the adapter's CBOR messages),
// without the websocket's own framing and the HTTP upgrade.
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter, WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import * as Automerge from "@automerge/automerge"
import WebSocket, { WebSocketServer } from "ws"
import readline from "node:readline"

let bytesIn = 0
let bytesOut = 0
const size = d => {
  if (d == null) return 0
  if (Array.isArray(d)) return d.reduce((n, x) => n + size(x), 0)
  if (typeof d === "string") return Buffer.byteLength(d)
  return d.byteLength ?? 0
}
const origSend = WebSocket.prototype.send
WebSocket.prototype.send = function (data, ...rest) {
  bytesOut += size(data)
  return origSend.call(this, data, ...rest)
}
const origEmit = WebSocket.prototype.emit
WebSocket.prototype.emit = function (event, ...args) {
  if (event === "message") bytesIn += size(args[0])
  return origEmit.call(this, event, ...args)
}

const say = obj => process.stdout.write(JSON.stringify(obj) + "\n")
const now = () => process.hrtime.bigint().toString() // CLOCK_MONOTONIC, shared by all processes
const fail = err => {
  process.stderr.write(`peer: ${err?.stack ?? err}\n`)
  process.exit(1)
}
process.on("unhandledRejection", fail)

const note = "Today I noticed how much calmer we both were. ".repeat(11).slice(0, 500)

const [mode, dir, ...rest] = process.argv.slice(2)
const storage = new NodeFSStorageAdapter(dir)

async function seed(n) {
  const repo = new Repo({ storage })
  const months = new Map()
  let day = Date.UTC(2021, 0, 1, 20)
  for (let i = 0; i < n; i++) {
    const d = new Date(day)
    const month = `checkins/${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`
    let h = months.get(month)
    if (!h) {
      h = repo.create({ month, checkins: {} })
      months.set(month, h)
    }
    const at = day
    h.change(doc => {
      // A plain string, as trustsync stores a note (its author alone writes
      // it); a JavaScript string would become a text object.
      doc.checkins[`c${i}`] = { author: "alex", at, mood: 1 + (i % 5), note: new Automerge.ImmutableString(note) }
    })
    day += 24 * 3600 * 1000
  }
  await repo.flush()
  let saveBytes = 0
  for (const h of months.values()) saveBytes += Automerge.save(h.doc()).byteLength
  say({ urls: [...months.values()].map(h => h.url), docs: months.size, save_bytes: saveBytes })
  await repo.shutdown()
}

async function create() {
  const repo = new Repo({ storage })
  const h = repo.create({ items: {} })
  await repo.flush()
  say({ url: h.url })
  await repo.shutdown()
}

async function offline(url, n, who) {
  const repo = new Repo({ storage })
  const h = await repo.find(url)
  for (let i = 0; i < n; i++) {
    h.change(doc => {
      doc.items[`${who}-${i}`] = { author: who, at: Date.now(), text: `offline edit ${i}` }
    })
  }
  await repo.flush()
  say({ items: Object.keys(h.doc().items).length })
  await repo.shutdown()
}

// find is repo.find, tried again (up to 50 times, 100 ms apart) when the
// repo declares the document unavailable: a client that asks before the
// server has answered its first request can be told so. Every retry is
// counted and reported.
let retries = 0
async function find(repo, url) {
  for (let i = 0; ; i++) {
    try {
      return await repo.find(url)
    } catch (err) {
      if (i >= 50 || !/unavailable/.test(String(err))) throw err
      retries++
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
}

function commands(repo, first) {
  let handle
  const run = async cmd => {
    switch (cmd.op) {
      case "fetch": {
        const handles = await Promise.all(cmd.urls.map(u => find(repo, u)))
        await repo.flush()
        const checkins = handles.reduce((n, h) => n + Object.keys(h.doc().checkins ?? {}).length, 0)
        say({ fetched: handles.length, checkins, in: bytesIn, out: bytesOut, retries })
        break
      }
      case "wait": {
        const h = await find(repo, cmd.url)
        const count = () => Object.keys(h.doc().items).length
        if (count() < cmd.count) {
          await new Promise(resolve => {
            const check = () => {
              if (count() >= cmd.count) {
                h.off("change", check)
                resolve()
              }
            }
            h.on("change", check)
          })
        }
        await repo.flush()
        say({ reached: count(), in: bytesIn, out: bytesOut, retries })
        break
      }
      case "open":
        handle = await find(repo, cmd.url)
        say({ opened: cmd.url })
        break
      case "watch": {
        const seen = new Set(Object.keys(handle.doc().items))
        handle.on("change", ({ doc }) => {
          const t = now()
          for (const k of Object.keys(doc.items)) {
            if (!seen.has(k)) {
              seen.add(k)
              if (k.startsWith("live-")) say({ seen: Number(k.slice(5)), t })
            }
          }
        })
        say({ watching: true })
        break
      }
      case "edit": {
        handle.change(doc => {
          doc.items[`live-${cmd.i}`] = { author: "alex", at: Date.now(), text: `live edit ${cmd.i}` }
        })
        say({ edited: cmd.i, t: now() })
        break
      }
      case "stats":
        say({ in: bytesIn, out: bytesOut })
        break
      default:
        throw new Error(`unknown command ${JSON.stringify(cmd)}`)
    }
  }
  // Commands run one after another, in the order they came.
  let queue = Promise.resolve()
  const enqueue = cmd => {
    queue = queue.then(() => run(cmd)).catch(fail)
  }
  if (first) enqueue(JSON.parse(first))
  const rl = readline.createInterface({ input: process.stdin })
  rl.on("line", line => line.trim() && enqueue(JSON.parse(line)))
  rl.on("close", () => queue.then(() => repo.flush()).then(() => process.exit(0)))
}

switch (mode) {
  case "seed":
    await seed(Number(rest[0]))
    break
  case "create":
    await create()
    break
  case "offline":
    await offline(rest[0], Number(rest[1]), rest[2] ?? "x")
    break
  case "serve": {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
    await new Promise(resolve => wss.on("listening", resolve))
    const repo = new Repo({ storage, network: [new WebSocketServerAdapter(wss)], sharePolicy: async () => true })
    say({ port: wss.address().port })
    commands(repo, rest[0])
    break
  }
  case "client": {
    const repo = new Repo({
      storage,
      network: [new WebSocketClientAdapter(`ws://127.0.0.1:${Number(rest[0])}`)],
      sharePolicy: async () => true,
    })
    commands(repo, rest[1])
    break
  }
  default:
    fail(`usage: node peer.mjs seed|create|offline|serve|client DIR ...`)
}
