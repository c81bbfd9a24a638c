// The API's JSON shapes, generated from the shop's OpenAPI spec (npm run gen-types): never by hand.
import type { components, operations } from "./generated/api";

type Schemas = components["schemas"];
export type Product = Schemas["ProductView"];
/** A listing's item: what a product card shows (a product's own page has every field). */
export type ProductSummary = Schemas["ProductSummary"];
export type Page = Schemas["Page"];
export type Cart = Schemas["Cart"];
export type CartItem = Schemas["CartItem"];
export type Order = Schemas["Order"];
export type ShopperDetails = Schemas["ShopperDetails"];
export type Problem = Schemas["Problem"];
export type ContentEntry = Schemas["ContentEntry"];
export type ContentList = Schemas["ContentList"];
export type ContentKind = ContentEntry["kind"];
export type StockLevels = Schemas["StockLevels"];
export type Sort = NonNullable<NonNullable<operations["listProducts"]["parameters"]["query"]>["sort"]>;
export type SearchPage = Schemas["SearchPage"];
export type Suggestions = Schemas["Suggestions"];
export type SearchSort = SearchPage["sort"];
