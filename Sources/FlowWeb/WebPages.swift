import FlowCharts
import FlowFormat
package import FlowModel
package import FlowQuery
import FlowStore
import Foundation

/// The pages of SPEC §8, rendered to HTML from the query layer; independent of the HTTP server,
/// which maps paths to ``Route``s and sends what ``render(_:query:now:)`` returns.
///
/// Every page is a question: its URL query holds the HTTP API's parameters, its tables carry
/// `data-answer`, `data-field` and `data-value`, and it links to the JSON and CSV of each answer
/// and shows the equivalent `tailflow` command.
///
/// For example:
/// ```swift
/// let pages = WebPages(engine: QueryEngine(store: store))
/// let page = pages.render(.graph, query: PageQuery([("from", "-24h")]))
/// // page.status == 200, page.html == "<!DOCTYPE html>…"
/// ```
package struct WebPages: Sendable {
    package enum Route: Sendable, Equatable {
        case overview, graph, flows, nodes, health, changes
        case endpoint(String)
        case pair(String, String)
    }

    package struct Page: Sendable {
        package var status: Int
        package var html: String
    }

    /// One line of the writer's state on `/health`, given by the server.
    package struct HealthItem: Sendable {
        package var field: String
        package var label: String
        package var value: String

        package init(field: String, label: String, value: String) {
            self.field = field
            self.label = label
            self.value = value
        }
    }

    package let engine: QueryEngine
    /// The server's own state (the writer, requests), for `/health`.
    package var health: @Sendable () -> [HealthItem]

    package init(engine: QueryEngine, health: @escaping @Sendable () -> [HealthItem] = { [] }) {
        self.engine = engine
        self.health = health
    }

    /// The style sheet and the drag-to-zoom script, served at `/assets/…`.
    package static let assets: [String: (type: String, body: String)] = [
        "tailflow.css": ("text/css; charset=utf-8", Templates.css),
        "zoom.js": ("text/javascript; charset=utf-8", String(decoding: PackageResources.zoom_js, as: UTF8.self)),
    ]

    /// The fields of a page's window picker; none for the pages without one (nodes, health).
    ///
    /// The error page of a question that cannot be answered shows the same form, filled in as
    /// asked, so the mistake can be fixed where it is named.
    static func pickerFields(_ route: Route) -> [String] {
        switch route {
        case .overview: ["from", "to", "kind", "proto", "endpoint", "tag", "user", "where", "limit", "metric", "step"]
        case .graph: ["from", "to", "kind", "proto", "endpoint", "tag", "user", "where", "limit", "metric"]
        case .endpoint, .pair: ["from", "to", "kind", "proto", "tag", "user", "where", "step"]
        case .flows: ["from", "to", "match", "kind", "proto", "endpoint", "tag", "user", "where", "limit"]
        case .changes: ["from", "to", "actor", "target", "type", "where", "limit"]
        case .nodes, .health: []
        }
    }

    /// The picker of an error page: the route's fields as the user wrote them (nil without fields).
    static func errorPicker(_ context: PageContext) -> PageModel.Picker? {
        let fields = pickerFields(context.route)
        return fields.isEmpty ? nil : context.picker(fields: fields)
    }

    /// Renders one page. A question that cannot be answered as asked is a 400 page that says why.
    package func render(_ route: Route, query: PageQuery, now: Nanoseconds = TimeWindow.now()) -> Page {
        var context = PageContext(engine: engine, query: query, now: now, route: route)
        do {
            var model: PageModel
            switch route {
            case .overview: model = try overview(&context)
            case .graph: model = try graph(&context)
            case .endpoint(let e): model = try endpoint(e, &context)
            case .pair(let a, let b): model = try pair(a, b, &context)
            case .flows: model = try flows(&context)
            case .nodes: model = try nodes(&context)
            case .health: model = try healthPage(&context)
            case .changes: model = try changes(&context)
            }
            // A section's own note says why its table is empty ("Nothing was rejected."): one message, not two.
            for i in model.sections.indices where model.sections[i].note != nil { model.sections[i].table?.empty = false }
            return Page(status: 200, html: Templates.render(model, "page"))
        } catch let error as QueryError {
            var model = context.frame(heading: "This question cannot be answered as asked")
            // A filter's mistake ends with the expression and a caret under the column: keep their spacing.
            let message = error.message(for: .http)
            let lines = message.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            model.error = String(lines[0])
            model.errorDetail = lines.count > 1 ? String(lines[1]) : nil
            model.picker = Self.errorPicker(context)
            return Page(status: 400, html: Templates.render(model, "page"))
        } catch let error as RetentionError {
            var model = context.frame(heading: "This window reaches into pruned data")
            model.error = error.message
            model.picker = Self.errorPicker(context)
            return Page(status: 410, html: Templates.render(model, "page"))
        } catch {
            var model = context.frame(heading: "Something went wrong")
            model.error = "\(error)"
            return Page(status: 500, html: Templates.render(model, "page"))
        }
    }

    /// A page that says why it cannot be shown (404, 401), in the same frame as the others.
    package static func message(status: Int, heading: String, text: String) -> Page {
        let model = PageModel(title: heading, nav: PageContext.navigation(nil), heading: heading, lead: text, script: false)
        return Page(status: status, html: Templates.render(model, "page"))
    }
}
