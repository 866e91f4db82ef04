package import FlowModel

/// Tailscale's DERP map, as published (`https://login.tailscale.com/derpmap/default`) and as
/// `tailcfg.DERPMap` marshals it: `{"Regions":{"1":{"RegionID":1,"RegionCode":"nyc",
/// "RegionName":"New York City","Nodes":[…]}, …}}`. Only the regions' ids, codes and names are read.
package enum DERPMap {
    /// Reads a DERP map file (`-` for standard input; gzip detected by magic number).
    ///
    /// - throws: ``DeviceList/Error`` naming the file, the line and the field.
    package static func read(path: String) throws -> [DERPRegion] {
        try parse(DeviceList.readBytes(path: path), source: path == "-" ? "stdin" : path)
    }

    /// Parses a DERP map; any problem is an error naming the region and the field.
    package static func parse(_ bytes: [UInt8], source: String) throws -> [DERPRegion] {
        var regions: [DERPRegion] = []
        try DeviceList.document(bytes, source: source, what: "DERP map", key: "Regions", shape: "{\"Regions\":{…}}", bareArray: false) {
            (p: inout MessageParser, problems: inout [String]) throws(ScanError) in
            try Self.regions(&p, &regions, &problems)
        }
        return regions.sorted { $0.id < $1.id }
    }

    /// `{"1": {region}, …}`: each key is the region id, as the region's own `RegionID` says.
    static func regions(_ p: inout MessageParser, _ regions: inout [DERPRegion], _ problems: inout [String]) throws(ScanError) {
        guard try p.cursor.peek() == UInt8(ascii: "{") else {
            problems.append("Regions: expected an object keyed by region id, got \(try p.typeName())")
            try p.cursor.skipValue(depth: 1)
            return
        }
        p.cursor.pos += 1
        if try p.cursor.peek() == UInt8(ascii: "}") {
            p.cursor.pos += 1
            return
        }
        var seen: Set<Int> = []
        while true {
            let keyToken = try p.cursor.string()
            let key = String(decoding: p.cursor.decodedBytes(keyToken), as: UTF8.self)
            try p.cursor.expect(UInt8(ascii: ":"), "':' after an object key")
            let path = "Regions[\"\(key)\"]"
            if let region = try region(&p, path: path, key: key, &problems) {
                if seen.insert(region.id).inserted { regions.append(region) } else { problems.append("\(path): region \(region.id) given twice") }
            }
            if try p.cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
        }
    }

    static func region(_ p: inout MessageParser, path: String, key: String, _ problems: inout [String]) throws(ScanError) -> DERPRegion? {
        guard try p.cursor.peek() == UInt8(ascii: "{") else {
            if try p.cursor.peek() == UInt8(ascii: "n") {
                try p.cursor.literal()
                return nil
            }
            problems.append("\(path): expected an object, got \(try p.typeName())")
            try p.cursor.skipValue(depth: 2)
            return nil
        }
        p.cursor.pos += 1
        var id: Int?
        var code: String?, name: String?
        let before = problems.count
        if try p.cursor.peek() == UInt8(ascii: "}") {
            p.cursor.pos += 1
        } else {
            while true {
                let k = try p.cursor.string()
                try p.cursor.expect(UInt8(ascii: ":"), "':' after an object key")
                if p.cursor.equals(k, "RegionID") {
                    let c = try p.cursor.peek()
                    if c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39) {
                        if case .unsigned(let v) = try p.cursor.number(), v > 0, v <= UInt64(Int32.max) {
                            id = Int(v)
                        } else {
                            problems.append("\(path).RegionID: not a positive whole number")
                        }
                    } else {
                        problems.append("\(path).RegionID: expected a number, got \(try p.typeName())")
                        try p.cursor.skipValue(depth: 3)
                    }
                } else if p.cursor.equals(k, "RegionCode") {
                    code = try p.stringField(path + ".RegionCode", &problems)
                } else if p.cursor.equals(k, "RegionName") {
                    name = try p.stringField(path + ".RegionName", &problems)
                } else {
                    try p.cursor.skipValue(depth: 3)
                }
                if try p.cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
            }
        }
        guard problems.count == before else { return nil }
        guard let id = id ?? Int(key), id > 0 else {
            problems.append("\(path).RegionID: missing")
            return nil
        }
        if let k = Int(key), k != id {
            problems.append("\(path).RegionID: \(id) under the key \"\(key)\"")
            return nil
        }
        return DERPRegion(id: id, code: code, name: name)
    }
}
