/**
 * The example web app (examples/web) in a real browser: Debian's Chromium driven by
 * playwright-core, against the real service (`src/main.ts`: API and worker, on its embedded
 * PostgreSQL) and the app as Vite builds it. Two people in two browser contexts: one sends a
 * friend request, the other sees it arrive and accepts, they open their conversation and each
 * sees the other's messages (and typing) live. A screenshot of the conversation is left in
 * test/ops/artifacts/conversation.png.
 */
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";

import { chromium, type Browser, type Page } from "playwright-core";

import { PROJECT_ROOT } from "../../src/paths.ts";
import { freePort, startProcess, type RunningProcess } from "../helpers/process.ts";
import { TEST_JWT_SECRET } from "../helpers/server.ts";
import { serveExampleWeb, type ExampleWeb } from "./helpers/exampleWeb.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Headless, and nothing that reaches for the network beyond loopback. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const ARTIFACTS = path.join(PROJECT_ROOT, "test/ops/artifacts");
const READY = /GraphQL API ready at (http:\/\/[\d.]+:\d+)\/graphql/;
/** How long one step may wait for what another browser did (a live event). */
const LIVE_MS = 20_000;

const tag = `${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const ANA = { username: `ana_${tag}`, email: `ana_${tag}@example.com` };
const BEN = { username: `ben_${tag}`, email: `ben_${tag}@example.com` };
const PASSWORD = "correct horse battery";

let service: RunningProcess;
let dataDir: string;
let web: ExampleWeb;
let browser: Browser;

beforeAll(async () => {
  const started = Date.now();
  web = await serveExampleWeb();
  dataDir = path.join(PROJECT_ROOT, ".data", `browser-test-${process.pid}`);
  const env = {
    DATA_DIR: dataDir,
    PORT: String(await freePort()),
    EMBEDDED_PG_PORT: String(await freePort()),
    JWT_SECRET: TEST_JWT_SECRET,
    BCRYPT_COST: "4",
    LOG_LEVEL: "info",
  };
  // what a developer runs: `npm run db:watch -- --once` (migrations, then the migration in
  // progress, migrations/current.sql, and the policies), then `npm start` (API and worker)
  const migrate = startProcess(["src/db/cli.ts", "watch", "--once"], env);
  if ((await migrate.exited) !== 0) throw new Error(`db:watch --once failed:\n${migrate.output()}`);
  service = startProcess(["src/main.ts"], env);
  await service.waitFor(READY);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  process.stderr.write(
    `browser test: app, service and Chromium up in ${Date.now() - started} ms\n`,
  );
});

afterAll(async () => {
  await browser?.close();
  await web?.close();
  if (service && service.child.exitCode === null) {
    service.child.kill("SIGTERM");
    await service.exited;
  }
  await rm(dataDir, { recursive: true, force: true });
});

async function signUp(page: Page, who: { username: string; email: string }): Promise<void> {
  const [, apiUrl] = service.output().match(READY)!;
  await page.goto(`${web.url}/?api=${encodeURIComponent(apiUrl!)}`);
  await page.getByPlaceholder("E-mail").fill(who.email);
  await page.getByPlaceholder("Username (to sign up)").fill(who.username);
  await page.getByPlaceholder("Password (8 characters or more)").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByText(`Signed in as @${who.username}`).waitFor();
}

const inList = (page: Page, label: string, text: string) =>
  page.getByRole("list", { name: label }).getByRole("listitem").filter({ hasText: text });

it("two people befriend each other and chat live", async () => {
  const anaContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const benContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const ana = await anaContext.newPage();
  const ben = await benContext.newPage();
  const problems: string[] = [];
  for (const page of [ana, ben]) page.on("pageerror", (error) => problems.push(error.message));

  await signUp(ana, ANA);
  await signUp(ben, BEN);

  // Ana finds Ben and asks him to be friends
  await ana.getByPlaceholder("Find people by name").fill(BEN.username);
  await ana.getByRole("button", { name: "Search" }).click();
  await inList(ana, "Search results", BEN.username)
    .getByRole("button", { name: "Add friend" })
    .click();
  await inList(ana, "Search results", BEN.username).getByText("request sent").waitFor();

  // Ben's page learns of it live (notificationAdded): the request and the unread count appear
  const request = inList(ben, "Friend requests", `${ANA.username} wants to be friends`);
  await request.waitFor({ timeout: LIVE_MS });
  await ben
    .getByLabel("Unread notifications")
    .filter({ hasText: /^[1-9]/ })
    .waitFor({ timeout: LIVE_MS });
  await request.getByRole("button", { name: "Accept" }).click();
  await inList(ben, "Friends", ANA.username).waitFor();

  // Ana hears it was accepted (live) and opens the conversation; so does Ben
  await inList(ana, "Friends", BEN.username).waitFor({ timeout: LIVE_MS });
  await inList(ana, "Friends", BEN.username).getByRole("button", { name: "Message" }).click();
  await inList(ben, "Friends", ANA.username).getByRole("button", { name: "Message" }).click();
  await ana.getByText(`Messages with ${BEN.username}`).waitFor();
  await ben.getByText(`Messages with ${ANA.username}`).waitFor();
  // the input is enabled once the conversation's messages are loaded and it is subscribed
  const anaInput = ana.locator('input[name="message"]:enabled');
  const benInput = ben.locator('input[name="message"]:enabled');
  await anaInput.waitFor();
  await benInput.waitFor();

  // Ana writes; Ben sees her typing, then her message, live
  await anaInput.fill("Hi Ben! Got my request?");
  await ben.getByText(`${ANA.username} is typing…`).waitFor({ timeout: LIVE_MS });
  await ana.getByRole("button", { name: "Send" }).click();
  await inList(ben, "Messages", "Hi Ben! Got my request?").waitFor({ timeout: LIVE_MS });

  // Ben answers; Ana sees it live
  await benInput.fill("I did, and accepted it. Hello Ana!");
  await ben.getByRole("button", { name: "Send" }).click();
  await inList(ana, "Messages", "Hello Ana!").waitFor({ timeout: LIVE_MS });
  await inList(ben, "Messages", "Hello Ana!").waitFor();

  // each side shows the other's message as theirs, in order
  const anaMessages = await ana
    .getByRole("list", { name: "Messages" })
    .locator("li .text")
    .allTextContents();
  expect(anaMessages).toEqual(["Hi Ben! Got my request?", "I did, and accepted it. Hello Ana!"]);
  await expect(inList(ana, "Messages", "Hello Ana!").getAttribute("class")).resolves.toBe("theirs");

  await mkdir(ARTIFACTS, { recursive: true });
  await ana.screenshot({ path: path.join(ARTIFACTS, "conversation.png"), fullPage: true });
  expect(problems).toEqual([]);
  await anaContext.close();
  await benContext.close();
});
