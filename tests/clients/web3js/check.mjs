// An independent client against the localnet: @solana/web3.js 1.x, as a wallet or a TypeScript
// bot uses it. Run by tests/clients/test_web3js.py, which starts `manage.py localnet --seed`
// and reads what this prints (one JSON object per line); the assertions live on both sides.
//
// env: RPC_URL (the websocket is derived as port + 1, as web3.js does for any node),
//      DEMO_WALLET, DEMO_MINT (the seeded demo token's first wallet and mint), WATCH (an
//      account the test changes with a swap once this script says it is ready).
import {
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  PublicKey,
  SystemProgram,
  Transaction,
} from "@solana/web3.js";
import bs58 from "bs58";

const TIMEOUT_MS = 30_000;
const say = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));

function within(promise, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`timed out: ${what}`)), TIMEOUT_MS),
    ),
  ]);
}

async function main() {
  const connection = new Connection(process.env.RPC_URL, "confirmed");
  // Record what goes over the websocket, to show confirmations come from subscriptions.
  const socket = connection._rpcWebSocket;
  const wsMethods = [];
  const call = socket.call.bind(socket);
  socket.call = (method, params) => {
    wsMethods.push(method);
    return call(method, params);
  };

  // 1. Airdrop, confirmed with confirmTransaction (blockhash strategy).
  const payer = Keypair.generate();
  const airdrop = await connection.requestAirdrop(payer.publicKey, 2 * LAMPORTS_PER_SOL);
  const latest = await connection.getLatestBlockhash("confirmed");
  const confirmed = await within(
    connection.confirmTransaction({ signature: airdrop, ...latest }, "confirmed"),
    "confirmTransaction(airdrop)",
  );
  say("airdrop", {
    err: confirmed.value.err,
    balance: await connection.getBalance(payer.publicKey, "confirmed"),
  });

  // 2. A transfer, its confirmation waited for on onSignature alone (the websocket).
  const friend = Keypair.generate().publicKey;
  const lamports = LAMPORTS_PER_SOL / 10;
  const tx = new Transaction().add(
    SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: friend, lamports }),
  );
  tx.recentBlockhash = (await connection.getLatestBlockhash("confirmed")).blockhash;
  tx.feePayer = payer.publicKey;
  tx.sign(payer);
  const signature = tx.signatures[0].signature;
  const bs58sig = bs58.encode(signature);
  const notified = within(
    new Promise((resolve) =>
      connection.onSignature(bs58sig, (result, context) => resolve({ result, context }), "confirmed"),
    ),
    "onSignature(transfer)",
  );
  await new Promise((resolve) => setTimeout(resolve, 200)); // the subscription is sent
  const sent = await connection.sendRawTransaction(tx.serialize());
  const { result, context } = await notified;
  say("transfer", { signature: sent, expected: bs58sig, err: result.err, slot: context.slot });

  // 3. The transfer read back parsed.
  const parsed = await connection.getParsedTransaction(sent, {
    commitment: "confirmed",
    maxSupportedTransactionVersion: 0,
  });
  const [instruction] = parsed.transaction.message.instructions;
  say("parsedTransaction", {
    fee: parsed.meta.fee,
    version: parsed.version,
    program: instruction.program,
    type: instruction.parsed.type,
    info: instruction.parsed.info,
    preBalances: parsed.meta.preBalances,
    postBalances: parsed.meta.postBalances,
    signer: parsed.transaction.message.accountKeys[0].signer,
  });

  // 4. Token accounts of the demo wallet, parsed.
  const owned = await connection.getParsedTokenAccountsByOwner(
    new PublicKey(process.env.DEMO_WALLET),
    { mint: new PublicKey(process.env.DEMO_MINT) },
  );
  say("tokenAccounts", {
    accounts: owned.value.map((a) => ({
      pubkey: a.pubkey.toBase58(),
      program: a.account.data.program,
      type: a.account.data.parsed.type,
      mint: a.account.data.parsed.info.mint,
      amount: a.account.data.parsed.info.tokenAmount.amount,
    })),
  });

  // 5. onAccountChange on an account the test changes with a swap.
  const watch = new PublicKey(process.env.WATCH);
  const before = await connection.getAccountInfo(watch, "confirmed");
  const changed = within(
    new Promise((resolve) =>
      connection.onAccountChange(watch, (info, ctx) => resolve({ info, ctx }), "confirmed"),
    ),
    "onAccountChange(swap)",
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  say("ready");
  const { info, ctx } = await changed;
  say("accountChange", {
    slot: ctx.slot,
    owner: info.owner.toBase58(),
    before: before.data.readBigUInt64LE(64).toString(),
    after: info.data.readBigUInt64LE(64).toString(),
  });
  say("websocket", { methods: [...new Set(wsMethods)].sort() });
  process.exit(0);
}

main().catch((error) => {
  say("error", { message: String(error && error.stack ? error.stack : error) });
  process.exit(1);
});
