using System.IO.Enumeration;
using AutoBuilder.Runner.Publishing;

namespace AutoBuilder.Runner.Processes;

/// <summary>
/// What the build user (<see cref="BuildUser"/>) is given: ownership of the folders it writes, and a check that it can
/// reach them at all (bubblewrap binds them as that user, so every parent folder must let it pass).
/// </summary>
public static class BuildUserAccess
{
    /// <summary>
    /// Gives <paramref name="root"/> and everything below it to the user; symlinks are changed, never followed. Folders in
    /// <paramref name="skip"/> (full paths: mounted cache layers, whose files are the user's already and a chown through
    /// which would copy every file up) are left alone, with all below them.
    /// </summary>
    public static void GiveTo(string root, BuildUser user, IReadOnlyCollection<string>? skip = null)
    {
        ArgumentNullException.ThrowIfNull(user);
        Chown(root, user);
        var skipped = new HashSet<string>(skip ?? [], StringComparer.Ordinal);
        var entries = new FileSystemEnumerable<string>(root, (ref FileSystemEntry entry) => entry.ToFullPath(), new EnumerationOptions
        {
            RecurseSubdirectories = true,
            AttributesToSkip = 0,
            IgnoreInaccessible = false,
        })
        {
            ShouldIncludePredicate = (ref FileSystemEntry entry) => skipped.Count == 0 || !skipped.Contains(entry.ToFullPath()),
            // Never into a link (a ZIP may carry in-tree ones such as d -> ..): the link itself is changed, not its target.
            ShouldRecursePredicate = (ref FileSystemEntry entry) => (entry.Attributes & FileAttributes.ReparsePoint) == 0
                && (skipped.Count == 0 || !skipped.Contains(entry.ToFullPath())),
        };
        foreach (var path in entries)
        {
            Chown(path, user);
        }
    }

    /// <summary>The first folder on the way to <paramref name="path"/> that the user may not pass, or null when it can reach it.</summary>
    public static string? Blocking(string path, BuildUser user)
    {
        ArgumentNullException.ThrowIfNull(user);
        var folder = Path.GetFullPath(path);
        var chain = new Stack<string>();
        for (var current = folder; current is not null; current = Path.GetDirectoryName(current))
        {
            chain.Push(current);
        }

        foreach (var current in chain)
        {
            if (FileKinds.Stat(current) is not { } status)
            {
                return current;
            }

            var mayPass = status.Uid == user.Uid ? (status.Permissions & 0x40) != 0
                : status.Gid == user.Gid ? (status.Permissions & 0x8) != 0
                : (status.Permissions & 0x1) != 0;
            if (!mayPass)
            {
                return current;
            }
        }

        return null;
    }

    private static void Chown(string path, BuildUser user)
    {
        if (NativeMethods.Lchown(path, user.Uid, user.Gid) != 0)
        {
            throw new IOException($"cannot give '{path}' to the build user {user.Uid}:{user.Gid} (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
        }
    }
}
