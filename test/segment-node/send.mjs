// Sends identify, track and page calls with the official Segment Node client to the Steward
// named by STEWARD_HOST, then flushes. Prints the message ids it sent, one per line.
import { Analytics } from '@segment/analytics-node'

const analytics = new Analytics({
  writeKey: process.env.STEWARD_WRITE_KEY,
  host: process.env.STEWARD_HOST,
  path: '/v1/batch',
  flushAt: 5,
  flushInterval: 200,
  maxRetries: 5,
})
const sent = []
analytics.on('error', (err) => console.error('client error:', err?.reason?.message ?? err))
analytics.on('track', (ctx) => sent.push(ctx.event.messageId))
analytics.on('identify', (ctx) => sent.push(ctx.event.messageId))
analytics.on('page', (ctx) => sent.push(ctx.event.messageId))

analytics.identify({ userId: 'node-user-1', anonymousId: 'node-anon-1', traits: { email: 'node.client@example.com', firstName: 'Nodia' } })
for (let i = 0; i < 7; i++) {
  analytics.track({ userId: 'node-user-1', event: 'Product Viewed', properties: { product_id: `p-${i}`, price: 9.5 } })
}
analytics.page({ anonymousId: 'node-anon-1', name: 'Home', properties: { path: '/', title: 'Home' } })
await analytics.closeAndFlush({ timeout: 20000 })
for (const id of sent) console.log(id)
