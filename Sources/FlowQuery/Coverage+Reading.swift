import Dispatch
import FlowModel
import FlowStore

extension Coverage {
    /// Reads the window's messages once for the peers' skew: this thread (the store's) steps
    /// through them and hands them on, packed, in batches; a second thread decodes the rows'
    /// ends, keeps the ``Sightings`` and, when `windows`, the messages' windows, and at the end
    /// groups those by node and computes the skews over `skewRange` (``Sightings/skews(from:to:)``).
    /// Whenever that thread lags behind, this one does `meanwhile`'s work, then decodes a batch
    /// itself, instead of waiting. On two cores the pass takes about as long as the larger half of the work; the
    /// answer is the one a single thread gives (the second thread reads the messages in the same
    /// order). Returns once this thread has read them all: the store is free for other reads
    /// while the second thread finishes (``PeerReading/finish()``).
    ///
    /// - parameter meanwhile: Other work of this thread, done a part at a time: `meanwhile(share)`
    ///   does the next part unless that share of the work (0–1) is done already, and says whether
    ///   it did one. Called as the reading goes on (with the share of the window read), and
    ///   whenever the second thread lags behind (with 1), before decoding a batch here; it may
    ///   read the snapshot (between two messages of this reading).
    ///
    /// - throws: What the store throws, or ``StoreError`` for a malformed row blob this thread
    ///   decoded (after the second thread stopped).
    static func startPeers(_ snapshot: any StoreSnapshot, _ window: TimeWindow, width: Int, skewRange: (Nanoseconds, Nanoseconds),
                           windows: Bool, meanwhile: (Double) throws -> Bool = { _ in false }) throws -> PeerReading {
        let handoff = Handoff(width: width, skewRange: skewRange, windowEnd: windows ? window.to : nil)
        DispatchQueue.global(qos: .userInitiated).async { handoff.keepSightings() }
        var batch = Handoff.Batch()
        var failure: (any Error)? = nil
        do {
            var ends: [RowEnds] = []
            let length = Double(window.to - window.from)
            try snapshot.messageWindowsAndPackedRows(from: window.from, to: window.to, { batch.window($0) }) { h, rows in
                batch.rows(h, rows)
                if batch.isFull {
                    // Rather than wait for the other thread, do the other work, then decode this batch here.
                    while !handoff.hasRoom {
                        if try meanwhile(1) { continue }
                        try batch.decode(&ends)
                        break
                    }
                    handoff.send(&batch)
                    // The other work keeps pace with the reading (messages come by start).
                    let share = Double(h.start - window.from) / length
                    while try meanwhile(share) {}
                }
            }
        } catch {
            failure = error
        }
        batch.last = true
        handoff.send(&batch)
        let reading = PeerReading(handoff: handoff)
        if let failure {
            reading.wait()
            throw failure
        }
        return reading
    }

    /// ``startPeers(_:_:width:skewRange:windows:meanwhile:)``, the rest of `meanwhile` while the
    /// second thread finishes, and ``PeerReading/finish()``.
    static func readPeers(_ snapshot: any StoreSnapshot, _ window: TimeWindow, width: Int, skewRange: (Nanoseconds, Nanoseconds),
                          windows: Bool, meanwhile: (Double) throws -> Bool = { _ in false }) throws -> (ByNode<Own>?, [Int64: Double]) {
        let reading = try startPeers(snapshot, window, width: width, skewRange: skewRange, windows: windows, meanwhile: meanwhile)
        do {
            while try meanwhile(1) {}
        } catch {
            reading.wait()
            throw error
        }
        return try reading.finish()
    }

    /// The second thread of ``startPeers(_:_:width:skewRange:windows:meanwhile:)`` at work.
    struct PeerReading {
        let handoff: Handoff

        /// Waits for the second thread (once; later calls return at once).
        func wait() {
            handoff.join()
        }

        /// Waits for the second thread: each node's windows (when asked for) and the skews.
        ///
        /// - throws: ``StoreError`` for a malformed row blob.
        func finish() throws -> (ByNode<Own>?, [Int64: Double]) {
            handoff.join()
            if let failure = handoff.failure { throw failure }
            return (handoff.own, handoff.skews)
        }
    }

    /// Packed messages handed from the reading thread to the sightings' thread: a few batches go
    /// round, each filled by the reader and taken by the other thread in turn (swapped in and
    /// out of a slot, so neither copies). The semaphores order every access to a slot, and to
    /// the results.
    final class Handoff: @unchecked Sendable {
        struct Batch {
            static let capacity = 1024
            /// Every message's header, in the order the store gave them.
            var windows: [MessageHeader] = []
            /// The messages with rows, in key order, and where each one's packed rows end in `bytes`.
            var messages: [MessageHeader] = []
            var ends: [Int] = []
            var bytes: [UInt8] = []
            /// The reader's last batch (it may hold messages too).
            var last = false
            /// The conversations of each message with rows (``Sightings/conversations(_:into:)``)
            /// and where each one's end in `keys`, when the reader decoded them (`decoded`).
            var keys: [Conversation] = []
            var keyEnds: [Int] = []
            var decoded = false

            /// Decodes the messages' rows into `keys`.
            ///
            /// - throws: ``StoreError`` for a malformed row blob.
            mutating func decode(_ scratch: inout [RowEnds]) throws {
                // Filled as locals (taking the buffers, not copying them), put back at the end.
                var keys: [Conversation] = [], keyEnds: [Int] = []
                swap(&keys, &self.keys)
                swap(&keyEnds, &self.keyEnds)
                defer {
                    swap(&keys, &self.keys)
                    swap(&keyEnds, &self.keyEnds)
                }
                keys.removeAll(keepingCapacity: true)
                keyEnds.removeAll(keepingCapacity: true)
                let messageEnds = ends
                try bytes.withUnsafeBytes { bytes in
                    var from = 0
                    for end in messageEnds {
                        try RowCodec.decodeEnds(UnsafeRawBufferPointer(rebasing: bytes[from..<end]), into: &scratch)
                        from = end
                        scratch.withUnsafeBufferPointer { Sightings.conversations($0, into: &keys) }
                        keyEnds.append(keys.count)
                    }
                }
                decoded = true
            }

            var isFull: Bool { messages.count >= Self.capacity || windows.count >= Self.capacity }

            mutating func window(_ h: MessageHeader) {
                windows.append(h)
            }

            mutating func rows(_ h: MessageHeader, _ rows: UnsafeRawBufferPointer) {
                messages.append(h)
                bytes.append(contentsOf: rows)
                ends.append(bytes.count)
            }

            mutating func clear() {
                windows.removeAll(keepingCapacity: true)
                messages.removeAll(keepingCapacity: true)
                ends.removeAll(keepingCapacity: true)
                bytes.removeAll(keepingCapacity: true)
                last = false
                decoded = false
            }
        }

        private static let slotCount = 4
        private let slots: UnsafeMutablePointer<Batch>
        private let free = DispatchSemaphore(value: slotCount)
        private let full = DispatchSemaphore(value: 0)
        /// Batches sent (the reader's) and taken (the other thread's).
        private var sent = 0
        private var taken = 0
        private let finished = DispatchSemaphore(value: 0)
        private var joined = false
        private let width: Int
        private let skewRange: (Nanoseconds, Nanoseconds)
        private let windowEnd: Nanoseconds?
        /// Set by the sightings' thread before it signals `finished`.
        private(set) var skews: [Int64: Double] = [:]
        private(set) var own: ByNode<Own>? = nil
        private(set) var failure: (any Error)? = nil

        init(width: Int, skewRange: (Nanoseconds, Nanoseconds), windowEnd: Nanoseconds?) {
            self.width = width
            self.skewRange = skewRange
            self.windowEnd = windowEnd
            slots = .allocate(capacity: Self.slotCount)
            slots.initialize(repeating: Batch(), count: Self.slotCount)
        }

        deinit {
            slots.deinitialize(count: Self.slotCount)
            slots.deallocate()
        }

        /// The reader's: waits for the sightings' thread to end (once).
        func join() {
            guard !joined else { return }
            finished.wait()
            joined = true
        }

        /// The reader's: whether ``send(_:)`` would not wait (then the next slot is kept for it).
        var hasRoom: Bool {
            if reserved { return true }
            reserved = free.wait(timeout: .now()) == .success
            return reserved
        }
        private var reserved = false

        /// The reader's: puts `batch` in the next slot once the other thread has taken what was
        /// there, and leaves `batch` an empty one to fill.
        func send(_ batch: inout Batch) {
            if reserved {
                reserved = false
            } else {
                free.wait()
            }
            swap(&slots[sent % Self.slotCount], &batch)
            sent += 1
            full.signal()
            batch.clear()
        }

        /// The sightings' thread: every batch in turn, until the last. After a malformed blob
        /// it keeps taking batches (so the reader never waits for ever) without reading them.
        func keepSightings() {
            var s = Sightings(width: width)
            var own = windowEnd.map { OwnMessages(to: $0) }
            var batch = Batch()
            var ends: [RowEnds] = []
            ends.reserveCapacity(64)
            var failed: (any Error)? = nil
            while true {
                full.wait()
                swap(&slots[taken % Self.slotCount], &batch)
                taken += 1
                free.signal()
                if failed == nil {
                    do {
                        if own != nil {
                            for h in batch.windows { own!.add(h) }
                        }
                        if !batch.decoded { try batch.decode(&ends) }
                        var from = 0
                        for (h, end) in zip(batch.messages, batch.keyEnds) {
                            s.see(reporter: h.reporter, start: h.start, batch.keys[from..<end])
                            from = end
                        }
                    } catch {
                        failed = error
                    }
                }
                if batch.last { break }
            }
            if failed == nil {
                self.own = own?.grouped(width: width)
                skews = s.skews(from: skewRange.0, to: skewRange.1)
            }
            failure = failed
            finished.signal()
        }
    }
}
