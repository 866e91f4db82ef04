import ArgumentParser
import FlowPull
import Foundation

/// `tailflow nodes sync`, registered in `Tailflow+Nodes.swift`; kept apart so the list and import commands stay as they were.
extension Tailflow.Nodes {
    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sync",
            abstract: "Fetch the device list from the Tailscale API (GET /api/v2/tailnet/{tailnet}/devices) and import it.",
            discussion: "Credentials as for pull: TS_API_KEY or --api-key-file, or TS_OAUTH_CLIENT_ID and TS_OAUTH_CLIENT_SECRET (scope devices:core:read)."
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var api: APIOptions

        func validate() throws {
            try api.validateAPI()
        }

        func run() async throws {
            let flowStore = try store.openStorage()
            let n = try await withAPI(api, logger: api.logger) { client in
                try await syncDevices(api: client, store: flowStore, now: nowNanoseconds())
            }
            Stdout.write("synced \(n) node\(n == 1 ? "" : "s")\n")
        }
    }
}
