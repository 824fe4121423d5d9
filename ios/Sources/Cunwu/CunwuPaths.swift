// Where an iOS app keeps its Cunwu store. The generated API (CunwuStore, records,
// CunwuError) is in Cunwu.swift, produced by build-xcframework.sh.
import Foundation

public enum CunwuPaths {
    /// `Application Support/Cunwu/cunwu.db`, created if needed and excluded from
    /// iCloud backup: the store holds this device's private key, and a backup restored
    /// onto another phone must not make two devices sign as one. A new phone enrolls
    /// with a new invite and receives the village from the relay.
    public static func defaultStore() throws -> String {
        let fm = FileManager.default
        var dir = try fm.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            .appendingPathComponent("Cunwu", isDirectory: true)
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try dir.setResourceValues(values)
        return dir.appendingPathComponent("cunwu.db").path
    }
}
