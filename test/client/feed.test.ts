/** Keyset paging with the typed client: 25 posts in the home feed, page after page. */
import {
  HomeFeedDocument,
  pages,
  PublishPostDocument,
} from "../../clients/typescript/src/index.ts";
import { startApi, type Api } from "../helpers/api.ts";
import { clientFor, closeClients } from "./clients.ts";

let api: Api;

beforeAll(async () => {
  api = await startApi();
});
afterEach(closeClients);
afterAll(() => api.close());

it("pages through 25 posts of the home feed, newest first, each once", async () => {
  const ana = clientFor(api, await api.register());
  const published: string[] = [];
  for (let i = 1; i <= 25; i++) {
    const { publishPost } = await ana.request(PublishPostDocument, {
      input: { content: `post ${i}`, privacyLevel: "public" },
    });
    published.push(publishPost!.post!.id);
  }
  const feedPage = async (after: string | null) =>
    (await ana.request(HomeFeedDocument, { first: 10, after })).homeFeed;

  const sizes: number[] = [];
  const seen: string[] = [];
  for await (const nodes of pages(feedPage)) {
    sizes.push(nodes.length);
    seen.push(...nodes.map((post) => post.id));
  }
  expect(sizes).toEqual([10, 10, 5]);
  expect(seen).toEqual([...published].reverse());

  // the infinite-scroll pager: one page per call, concurrent calls share the load
  const pager = ana.pager(feedPage);
  const [first, same] = await Promise.all([pager.loadMore(), pager.loadMore()]);
  expect(same).toBe(first);
  await pager.loadMore();
  expect(pager.hasMore).toBe(true);
  await pager.loadMore();
  expect(pager.hasMore).toBe(false);
  expect(await pager.loadMore()).toEqual([]);
  expect(pager.items.map((post) => post.content)).toEqual(
    Array.from({ length: 25 }, (_, i) => `post ${25 - i}`),
  );
});
