// An unchanged A2A agent (the official @a2a-js/sdk server) with two skills, for hsk-a2a-proxy's
// end-to-end tests. It knows nothing of Handshake. Speaks A2A v1.0 and, with legacy
// compatibility on, v0.3. Prints "A2A_URL <url>" once it listens; stops on SIGTERM or stdin EOF.
//
//   list-invoices  a task: submitted -> an artifact {"invoices": [...]} (as many as data.limit) ->
//                  completed
//   echo           a direct message reply: "echo: <text>"
//   pay            (a data part holding an AP2 v0.1 PaymentMandate or a v0.2 SD-JWT payment mandate) a
//                  task whose artifact is the AP2 PaymentReceipt for it. Like a merchant that trusts
//                  its gateway, it reads the SD-JWT's disclosed claims without verifying them: the
//                  Handshake service proxy in front of it verified the mandate.
import express from 'express';
import { AGENT_CARD_PATH, A2A_PROTOCOL_VERSION, TaskState, Role } from '@a2a-js/sdk';
import { DefaultRequestHandler, InMemoryTaskStore, AgentEvent } from '@a2a-js/sdk/server';
import { agentCardHandler, jsonRpcHandler, UserBuilder } from '@a2a-js/sdk/server/express';

const app = express();
const server = await new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
const url = `http://127.0.0.1:${server.address().port}/`;

const skill = (id, description) => ({ id, name: id, description, tags: ['test'], examples: [], inputModes: [],
                                      outputModes: [], securityRequirements: [] });
const card = {
  name: 'Invoices agent', description: 'Lists invoices; echoes text', version: '1.0.0',
  supportedInterfaces: [{ url, protocolBinding: 'JSONRPC', tenant: '', protocolVersion: A2A_PROTOCOL_VERSION },
                        { url, protocolBinding: 'JSONRPC', tenant: '', protocolVersion: '0.3' }],
  capabilities: { streaming: true, pushNotifications: false, extendedAgentCard: false, extensions: [] },
  securitySchemes: {}, securityRequirements: [], defaultInputModes: ['text/plain', 'application/json'],
  defaultOutputModes: ['application/json'],
  skills: [skill('list-invoices', 'Lists invoices'), skill('echo', 'Echoes text'), skill('pay', 'Pays an AP2 mandate')],
  signatures: [],
};

const dataOf = (message) => {
  for (const p of message.parts) if (p.content?.$case === 'data') return p.content.value ?? {};
  return null;
};
const textOf = (message) => message.parts.map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');

// {id, amount: {currency, value}} of the payment mandate in a data part, or null.
const paymentTerms = (data) => {
  const v01 = data['ap2.mandates.PaymentMandate'];
  if (v01) return { id: v01.payment_mandate_contents.payment_mandate_id, amount: v01.payment_mandate_contents.payment_details_total.amount };
  const v02 = data['ap2.mandates.PaymentMandateSdJwt'];
  if (typeof v02 !== 'string') return null;
  const [jwt, ...disclosures] = v02.split('~');
  const claims = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
  for (const d of disclosures.filter((x) => x)) {
    const [, name, value] = JSON.parse(Buffer.from(d, 'base64url').toString());
    claims[name] = value;
  }
  const { amount, currency } = claims.payment_amount;
  return { id: claims.transaction_id, amount: { currency, value: amount / 100 } };
};

class Executor {
  async execute(ctx, bus) {
    const data = dataOf(ctx.userMessage);
    if (data === null) {
      bus.publish(AgentEvent.message({ messageId: crypto.randomUUID(), role: Role.ROLE_AGENT,
        parts: [{ content: { $case: 'text', value: `echo: ${textOf(ctx.userMessage)}` }, mediaType: 'text/plain',
                  filename: '', metadata: undefined }],
        contextId: ctx.contextId, taskId: '', extensions: [], metadata: {}, referenceTaskIds: [] }));
      bus.finished();
      return;
    }
    const status = (state) => ({ state, message: undefined, timestamp: new Date().toISOString() });
    const terms = paymentTerms(data);
    if (terms) {
      const receipt = { payment_mandate_id: terms.id, timestamp: new Date().toISOString(), payment_id: 'pay_001',
        amount: terms.amount, payment_status: { merchant_confirmation_id: 'ord_88' } };
      bus.publish(AgentEvent.task({ id: ctx.taskId, contextId: ctx.contextId, status: status(TaskState.TASK_STATE_SUBMITTED),
                                    artifacts: [], history: [], metadata: {} }));
      bus.publish(AgentEvent.artifactUpdate({ taskId: ctx.taskId, contextId: ctx.contextId,
        artifact: { artifactId: 'payment', name: 'payment', description: '', extensions: [], metadata: {},
                    parts: [{ content: { $case: 'data', value: { 'ap2.PaymentReceipt': receipt } }, mediaType: 'application/json',
                              filename: '', metadata: undefined }] },
        append: false, lastChunk: true, metadata: {} }));
      bus.publish(AgentEvent.statusUpdate({ taskId: ctx.taskId, contextId: ctx.contextId,
                                            status: status(TaskState.TASK_STATE_COMPLETED), metadata: {} }));
      bus.finished();
      return;
    }
    bus.publish(AgentEvent.task({ id: ctx.taskId, contextId: ctx.contextId, status: status(TaskState.TASK_STATE_SUBMITTED),
                                  artifacts: [], history: [], metadata: {} }));
    const n = Math.max(0, Math.min(Number(data.limit ?? 1), 1000));
    const invoices = Array.from({ length: n }, (_, i) => ({ id: `inv-${i + 1}`, total_cents: 1000 + i }));
    bus.publish(AgentEvent.artifactUpdate({ taskId: ctx.taskId, contextId: ctx.contextId,
      artifact: { artifactId: 'invoices', name: 'invoices', description: '', extensions: [], metadata: {},
                  parts: [{ content: { $case: 'data', value: { invoices } }, mediaType: 'application/json',
                            filename: '', metadata: undefined }] },
      append: false, lastChunk: true, metadata: {} }));
    bus.publish(AgentEvent.statusUpdate({ taskId: ctx.taskId, contextId: ctx.contextId,
                                          status: status(TaskState.TASK_STATE_COMPLETED), metadata: {} }));
    bus.finished();
  }
  async cancelTask() {}
}

const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), new Executor());
app.use(`/${AGENT_CARD_PATH}`, agentCardHandler({ agentCardProvider: handler }));
app.use(jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication,
                         legacyCompat: { enabled: true } }));
console.log(`A2A_URL ${url}`);
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
