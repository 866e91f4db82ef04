import ArgumentParser
import FlowFormat
import FlowModel
import FlowQuery
import Foundation

extension Tailflow {
    struct Changes: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "changes",
            abstract: "Tailscale's configuration audit log over a window: who changed what, and when (oldest first).",
            discussion: """
                Configuration events arrive with the flows (ingest, the receivers of serve) or from the API \
                (pull/follow --logs configuration). JSON fields: time, action, origin, actorId, actorLogin, actorName, \
                targetId, targetName, targetType, property, old, new (JSON values), details, error.

                --where takes the filter language of the flows (see the README), its terms read over changes: \
                node = the changed node; endpoint = the changed node or the node that made the change; \
                tag = a tag of the changed node, or one the change set or removed; user = who made the change, \
                the user changed, or the changed node's owner; os = the changed node's OS. src, dst, kind, proto \
                and port say nothing about a change and are refused. For example:
                  tailflow changes --from -24h --to now --where 'tag = prod or user = alice@example.com'
                """)

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var output: FormatOptions

        @Option(help: ArgumentHelp("Only changes made by this actor: its ID, login name, display name, or the login's part before @ (case-insensitive).", valueName: "X"))
        var actor: String?

        @Option(help: ArgumentHelp("Only changes to this target: a node (ID, name or first label) or any target's ID or name, e.g. a user or the tailnet.", valueName: "E"))
        var target: String?

        @Option(help: ArgumentHelp("Only this target type (NODE, USER, TAILNET, …) or changed property (TAGS, ACL, KEY_EXPIRY_TIME, …), case-insensitive.", valueName: "T"))
        var type: String?

        @Option(help: "At most this many changes.")
        var limit: Int?

        @Option(name: .customLong("where"),
                help: ArgumentHelp("A filter expression over changes: node, endpoint, tag, user and os terms, e.g. 'node = db-1 or tag = prod'.", valueName: "expr"))
        var expression: String?

        func validate() throws {
            if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
        }

        func run() throws {
            let window = try usage { try TimeWindow.parse(from: self.window.from, to: self.window.to, zone: TimeWindow.zone(self.window.tz)) }
            let filter = try usage { try QuestionText.filter(expression) }
            let engine = QueryEngine(store: try store.openStorageForReading())
            let report = try usage {
                try engine.changes(ChangeQuery(window: window, actor: actor, target: target, type: type, limit: limit, filter: filter))
            }
            output.print(report)
        }
    }
}
