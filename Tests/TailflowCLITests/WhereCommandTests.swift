import Foundation
import Testing
import TestSupport

/// `--where` through the real binary: the same answers as the equivalent flags,
/// and mistakes as usage errors that point at the column.
@Suite(.ownThreads)
struct WhereCommandTests {
    static let window = QueryCommandTests.window

    static func answer(_ args: [String], db: String) async throws -> String {
        let r = try await CLI.run(args + window + ["--format", "json"], db: db)
        #expect(r.status == 0, "\(args): \(r.stderr)")
        return r.stdout
    }

    @Test func expressionsAnswerAsTheEquivalentFlags() async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        // (flags, expression) pairs that must give the same answer.
        let pairs: [([String], String)] = [
            (["--tag", "tag:prod"], #"tag = "tag:prod""#),
            (["--tag", "tag:prod"], "tag = prod"),
            (["--user", "bob@example.com"], "user = bob@example.com"),
            (["--proto", "tcp"], "proto = tcp"),
            (["--proto", "6"], "proto in (tcp)"),
            (["--endpoint", "db-1"], "endpoint = db-1"),
            (["--endpoint", "100.101.1.20"], "endpoint = nDb1x9ZCNTRL"),
            (["--kind", "physical"], "kind = physical"),
            (["--kind", "virtual,subnet"], "kind in (virtual, subnet)"),
            (["--kind", "virtual,subnet"], "not kind = exit"),
            (["--kind", "virtual,subnet,exit,physical"], "kind = physical or kind != physical"),
            (["--proto", "tcp", "--tag", "tag:prod"], "proto = tcp and tag = \"tag:prod\""),
        ]
        let commands: [[String]] = [
            ["top"], ["top", "--by", "pair"], ["top", "--by", "port"], ["series", "--step", "5m"],
            ["rollup", "--group-by", "kind,proto,src,dst"], ["flows", "--limit", "1000"],
        ]
        for command in commands {
            for (flags, expression) in pairs {
                let byFlags = try await Self.answer(command + flags, db: db)
                let byWhere = try await Self.answer(command + ["--where", expression], db: db)
                #expect(byFlags == byWhere, "\(command) \(flags) vs --where '\(expression)'")
            }
        }
        // Flags and the expression combine by `and`.
        #expect(try await Self.answer(["top", "--tag", "tag:prod", "--where", "proto = tcp"], db: db)
                == Self.answer(["top", "--tag", "tag:prod", "--proto", "tcp"], db: db))
        #expect(try await Self.answer(["top", "--kind", "virtual", "--where", "kind = physical"], db: db) == "[]\n")
        // scope: the endpoint's peers, filtered.
        #expect(try await Self.answer(["scope", "--endpoint", "db-1", "--proto", "tcp"], db: db)
                == Self.answer(["scope", "--endpoint", "db-1", "--where", "proto = tcp"], db: db))
    }

    @Test func srcAndDstAreTheEndsOfTheCountedTraffic() async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        let step = ["--step", "1h"]
        // A directed edge is src and dst; a pair is either direction.
        #expect(try await Self.answer(["series"] + step + ["--edge", "alice-laptop,db-1"], db: db)
                == Self.answer(["series"] + step + ["--where", "src = alice-laptop and dst = db-1"], db: db))
        #expect(try await Self.answer(["series"] + step + ["--pair", "alice-laptop,db-1"], db: db)
                == Self.answer(["series"] + step + ["--where", "(src = alice-laptop and dst = db-1) or (src = db-1 and dst = alice-laptop)"], db: db))
        // db-1 sent alice-laptop 1.2 MB (fixtures/tiny/expected.md); she sent it 48 kB.
        func bytes(_ expression: String) async throws -> Int? {
            let rows = try await JSONSerialization.jsonObject(with: Data(Self.answer(["series"] + step + ["--where", expression], db: db).utf8)) as? [[String: Any]]
            return rows?.first?["bytes"] as? Int
        }
        #expect(try await bytes("src = db-1 and dst = alice-laptop") == 1_200_000)
        #expect(try await bytes("src = alice-laptop and dst = db-1") == 48000)
        // A network holds nodes by any of their addresses: the tailnet's IPv4 and IPv6 ranges name the same nodes.
        #expect(try await Self.answer(["top", "--where", "src in 100.64.0.0/10"], db: db)
                == Self.answer(["top", "--where", "src in fd7a:115c:a1e0::/48 or src in 100.64.0.0/10"], db: db))
        // A blank expression (an empty filter box) is no filter.
        #expect(try await Self.answer(["top", "--where", "  "], db: db) == Self.answer(["top"], db: db))
        // An address nothing has is an empty answer.
        #expect(try await Self.answer(["top", "--where", "endpoint = 192.0.2.1"], db: db) == "[]\n")
    }

    @Test func mistakesAreUsageErrorsWithACaret() async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        let r = try await CLI.run(["top"] + Self.window + ["--where", "kind = exit and prot = tcp"], db: db)
        #expect(r.status == 2 && r.stdout.isEmpty)
        #expect(r.stderr == """
            tailflow: error: --where: unknown term 'prot' at column 17; expected a term (src, dst, endpoint, node, tag, user, os, kind, proto, port); did you mean 'proto'?
              kind = exit and prot = tcp
                              ^^^^

            """)
        let cases: [([String], String, String)] = [
            (["top", "--where", "src = db-l"], "'db-l' is no node of this store at column 7", "did you mean 'db-1'?"),
            (["series", "--where", "port in (22, 3389"], "the list opened at column 9 goes on with the end of the expression at column 18", "^"),
            (["flows", "--where", "proto = tpc"], "'tpc' is not a protocol at column 9", "did you mean 'tcp'?"),
            (["rollup", "--where", "(kind = exit"], "'(' at column 1 is not closed at column 13", "expected ')'"),
            (["scope", "--endpoint", "db-1", "--where", "kind = phisical"], "not a traffic kind at column 8", "did you mean 'physical'?"),
            (["top", "--where", "port = 22 or"], "the end of the expression where a test should start at column 13", "expected a term"),
        ]
        for (args, reason, detail) in cases {
            let r = try await CLI.run(args + Self.window, db: db)
            #expect(r.status == 2 && r.stdout.isEmpty, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(reason) && r.stderr.contains(detail), "\(args): \(r.stderr)")
        }
    }
}
