using System.Runtime.InteropServices;

namespace AutoBuilder.Storage;

internal static partial class NativeMethods
{
    public const int ENOENT = 2;
    public const int EEXIST = 17;

    /// <summary>link(2): a new name for an existing file; fails with EEXIST if the new name exists.</summary>
    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Link(string existingPath, string newPath);
}
